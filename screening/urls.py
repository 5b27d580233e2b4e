from __future__ import annotations

from django.urls import path

from . import report_views, views

app_name = "screening"

urlpatterns = [
    path("patients/<id:patient_id>/new/", views.examination_upload, name="upload"),
    path("patients/<id:patient_id>/referral/close/", views.referral_close, name="referral_close"),
    path("examinations/<id:examination_id>/", views.examination_detail, name="detail"),
    path("examinations/<id:examination_id>/status/", views.examination_status, name="status"),
    path("examinations/<id:examination_id>/review/", views.review_create, name="review"),
    path("examinations/<id:examination_id>/review/amend/", views.review_amend, name="review_amend"),
    path("examinations/<id:examination_id>/void/", views.examination_void, name="void"),
    path("examinations/<id:examination_id>/report.pdf", report_views.examination_report_pdf, name="report_pdf"),
    path("examinations/<id:examination_id>/eyes/<str:side>/image/", views.eye_image, name="eye_image"),
    path("examinations/<id:examination_id>/eyes/<str:side>/heatmap/", views.heatmap, name="heatmap"),
    path("worklist/", views.worklist, name="worklist"),
    path("statistics/", views.statistics, name="statistics"),
]

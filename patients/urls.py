from __future__ import annotations

from django.urls import path

from . import account_views, views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("<id:patient_id>/", views.patient_detail, name="detail"),
    path("<id:patient_id>/edit/", views.patient_update, name="update"),
    path("accounts/", account_views.account_list, name="accounts"),
    path("accounts/new/", account_views.account_create, name="account_create"),
    path("accounts/<id:user_id>/", account_views.account_update, name="account_update"),
]

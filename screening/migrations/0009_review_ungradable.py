# A doctor may sign an eye off as "Ungradable" (stored as 9, outside the classes): issue #22.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0008_grading_attempts"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="review",
            name="review_grades_valid",
        ),
        migrations.RemoveConstraint(
            model_name="reviewrevision",
            name="review_revision_grades_valid",
        ),
        migrations.AlterField(
            model_name="review",
            name="left_grade",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "No DR"), (1, "Mild"), (2, "Proliferative"), (9, "Ungradable")]
            ),
        ),
        migrations.AlterField(
            model_name="review",
            name="right_grade",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "No DR"), (1, "Mild"), (2, "Proliferative"), (9, "Ungradable")]
            ),
        ),
        migrations.AlterField(
            model_name="reviewrevision",
            name="left_grade",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "No DR"), (1, "Mild"), (2, "Proliferative"), (9, "Ungradable")]
            ),
        ),
        migrations.AlterField(
            model_name="reviewrevision",
            name="right_grade",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "No DR"), (1, "Mild"), (2, "Proliferative"), (9, "Ungradable")]
            ),
        ),
        migrations.AddConstraint(
            model_name="review",
            constraint=models.CheckConstraint(
                condition=models.Q(("right_grade__in", [0, 1, 2, 9]), ("left_grade__in", [0, 1, 2, 9])),
                name="review_grades_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewrevision",
            constraint=models.CheckConstraint(
                condition=models.Q(("right_grade__in", [0, 1, 2, 9]), ("left_grade__in", [0, 1, 2, 9])),
                name="review_revision_grades_valid",
            ),
        ),
    ]

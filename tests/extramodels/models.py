"""A category of an organization's attachments (17th model) and an attachment (18th): a
foreign key to a core model and one between the two, an uploaded file (a FileField, found
without being declared), a secret, a natural key and an irregular plural file key."""

from django.db import models

from core.models import Organization, User
from datatransfer.declarations import Transfer


class Category(models.Model):
    transfer = Transfer(file_key="categories", natural_key=("organization", "code"))

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="categories",
        db_column="organizationId",
    )
    code = models.CharField(max_length=50)
    name = models.TextField()

    class Meta:
        db_table = "Category"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="Category_organizationId_code_key"
            )
        ]


class Attachment(models.Model):
    transfer = Transfer(secrets=("download_token",))

    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="attachments", db_column="categoryId"
    )
    uploaded_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+", db_column="uploadedById"
    )
    file = models.FileField(upload_to="attachments/")
    download_token = models.CharField(max_length=64, db_column="downloadToken")

    class Meta:
        db_table = "Attachment"

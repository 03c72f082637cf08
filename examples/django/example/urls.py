from django.contrib import admin
from django.urls import path

from accounts import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("signup/", views.signup),
    path("bump/", views.bump),
]

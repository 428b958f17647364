from __future__ import annotations

from django.urls import path

from forensics.api import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="event-list"),
]

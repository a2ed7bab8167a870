"""ROOT_URLCONF of the Django tests (imported only when Django is installed)."""

from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path


class Boom(Exception):
    pass


def item(request, item_id):
    return JsonResponse({"id": item_id}, status=500 if item_id > 20 else 200)


def legacy(request, pk):
    return HttpResponse("legacy")


def crash(request):
    raise Boom("view failed")


urlpatterns = [
    path("v1/items/<int:item_id>", item),
    path("api/", include([re_path(r"^legacy/(?P<pk>[0-9]+)/$", legacy)])),
    path("crash", crash),
]

from django.conf import settings
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin


class ShopLocaleMiddleware(MiddlewareMixin):
    """Japanese unless the visitor chose another language (the language cookie set by /i18n/setlang/).

    Django's LocaleMiddleware would follow the browser's Accept-Language, so a shop's own staff on an
    English-configured browser would get an English admin; the product is Japanese first.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = {code for code, _name in settings.LANGUAGES}
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response.headers.setdefault("Content-Language", translation.get_language())
        return response

import factory
from django.utils import timezone

from members.models import Member

PASSWORD = "correct-horse-battery-1"


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    name = factory.Sequence(lambda n: f"会員 {n}")
    name_kana = "カイイン"
    phone = "090-0000-0000"
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.django.Password(PASSWORD)

import threading

import pytest
from django.db import connection

from members.exceptions import InvalidVerificationLinkError
from members.models import Member
from members.services import member_sign_up, member_verify_email, verification_path
from members.tests.factories import MemberFactory


@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ups_with_one_address_create_exactly_one_member():
    # given 8 requests for the same address, released at the same instant on their own connections
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        try:
            barrier.wait()
            member = member_sign_up(
                email="Same@Example.com" if n % 2 else "same@example.com",
                password="parallel-pass-123",
                name=f"並列 {n}",
                base_url="http://testserver/",
            )
            result = "created" if member is not None else "owner notified"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(workers)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one succeeds and every other one is answered as it (the owner is e-mailed instead)
    assert sorted(outcomes) == ["created"] + ["owner notified"] * (workers - 1)
    assert Member.objects.filter(email__iexact="same@example.com").count() == 1


@pytest.mark.django_db
def test_verifying_twice_is_harmless():
    member = MemberFactory(email_verified_at=None)
    uidb64, token = verification_path(member).strip("/").split("/")[-2:]
    first = member_verify_email(uidb64=uidb64, token=token)
    verified_at = first.email_verified_at
    second = member_verify_email(uidb64=uidb64, token=token)
    assert verified_at is not None
    assert second.email_verified_at == verified_at


@pytest.mark.django_db
@pytest.mark.parametrize("uidb64", ["", "!!!", "MTIzNDU2Nzg5"])
def test_verification_with_a_bad_member_id_is_refused(uidb64):
    MemberFactory(email_verified_at=None)
    with pytest.raises(InvalidVerificationLinkError):
        member_verify_email(uidb64=uidb64, token="abc-def")


@pytest.mark.django_db
def test_email_is_unique_regardless_of_case_in_the_database():
    from django.db import IntegrityError

    MemberFactory(email="case@example.com")
    with pytest.raises(IntegrityError):
        Member.objects.create(email="CASE@example.com", name="x")

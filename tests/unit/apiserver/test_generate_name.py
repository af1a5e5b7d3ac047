"""``metadata.generateName``: a generated name that is taken is drawn again (upstream's
RetryGenerateName), up to 8 draws; a name the client gave is never replaced."""

from __future__ import annotations

import pytest

from kubelite.api import errors, meta
from kubelite.apiserver import registry, requests

pytestmark = pytest.mark.usefixtures("default_namespace")
OPTS = requests.WriteOptions.parse({})


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The suffixes ``generate_name`` will give, in order: the test fills the list, and
    each draw takes the first."""
    planned: list[str] = []
    monkeypatch.setattr(meta, "generate_name", lambda prefix: prefix + planned.pop(0))
    return planned


async def test_a_taken_generated_name_is_drawn_again(reg: registry.Registry, draws: list[str]) -> None:
    cms = reg.get("", "v1", "configmaps")
    assert cms is not None
    await cms.create("default", {"metadata": {"name": "c-aaaaa"}}, OPTS)
    await cms.create("default", {"metadata": {"name": "c-bbbbb"}}, OPTS)
    draws += ["aaaaa", "bbbbb", "ccccc"]
    made = await cms.create("default", {"metadata": {"generateName": "c-"}, "data": {"k": "v"}}, OPTS)
    assert made["metadata"]["name"] == "c-ccccc"
    assert not draws
    stored = await cms.get("default", "c-ccccc")
    assert stored["data"] == {"k": "v"} and stored["metadata"]["uid"] == made["metadata"]["uid"]


async def test_eight_taken_draws_answer_already_exists(reg: registry.Registry, draws: list[str]) -> None:
    cms = reg.get("", "v1", "configmaps")
    assert cms is not None
    await cms.create("default", {"metadata": {"name": "c-aaaaa"}}, OPTS)
    draws += ["aaaaa"] * 8 + ["zzzzz"]
    with pytest.raises(errors.StatusError) as exc:
        await cms.create("default", {"metadata": {"generateName": "c-"}}, OPTS)
    assert exc.value.code == 409
    assert draws == ["zzzzz"]  # eight draws, no ninth
    with pytest.raises(errors.NotFound):
        await cms.get("default", "c-zzzzz")


async def test_a_given_name_is_not_replaced(reg: registry.Registry, draws: list[str]) -> None:
    cms = reg.get("", "v1", "configmaps")
    assert cms is not None
    await cms.create("default", {"metadata": {"name": "mine"}}, OPTS)
    draws += ["other"]
    with pytest.raises(errors.StatusError) as exc:
        await cms.create("default", {"metadata": {"name": "mine", "generateName": "c-"}}, OPTS)
    assert exc.value.code == 409
    assert draws == ["other"]  # no name was drawn

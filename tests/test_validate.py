"""Names that become paths: hypothesis checks that nothing with a separator or dot-dot ever passes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import validate
from bridge.errors import BridgeError

CHECKS = [validate.session_id, validate.message_id, validate.label]


@pytest.mark.parametrize("check", CHECKS)
@given(st.text(max_size=80))
def test_accepted_names_are_single_safe_path_components(check, value):
    try:
        accepted = check(value)
    except BridgeError as e:
        assert "invalid" in str(e) and "\n" not in str(e)
        return
    assert accepted == value
    assert "/" not in value and "\\" not in value and "\0" not in value and ".." not in value
    assert not value.startswith(".") and value.strip() == value and value


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", ".hidden", "", "x" * 200, "a\0b", "a b", "évil"])
@pytest.mark.parametrize("check", CHECKS)
def test_traversal_and_junk_are_refused(check, bad):
    with pytest.raises(BridgeError):
        check(bad)


@given(st.from_regex(r"[a-z0-9]{6}", fullmatch=True))
def test_minted_style_session_ids_pass(sid):
    assert validate.session_id(sid) == sid

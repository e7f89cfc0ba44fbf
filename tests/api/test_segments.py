"""The API bills what the core counts: a pair on a part's edge opens the next part."""

from __future__ import annotations

import pytest

from smspanel.services.content import count_segments


@pytest.mark.parametrize(
    ("content", "segments"),
    [
        ("a" * 152 + "€" + "a" * 152, 3),  # the escape pair would straddle parts one and two
        ("a" * 151 + "€" + "a" * 153, 2),
        ("中" * 66 + "😀" + "中" * 66, 3),  # so would the surrogate pair
        ("請乘𨋢到三樓", 1),
    ],
)
def test_segments_in_the_answer_and_the_detail_are_the_cores(client, headers, content, segments):
    response = client.post(
        "/api/sms", json={"recipient": "9123 4567", "content": content}, headers=headers
    )
    assert response.status_code == 202
    data = response.get_json()["data"]
    assert data["segments"] == count_segments(content) == segments
    detail = client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]
    assert detail["segments"] == segments

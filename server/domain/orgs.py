"""Mediation organisations (调委会 / 调解组织) form a tree with levels and kinds."""

from __future__ import annotations

import enum


class OrgLevel(enum.StrEnum):
    """Administrative level of an org. Professional committees may sit at any level."""

    city = "city"
    district = "district"
    town = "town"
    village = "village"


class OrgKind(enum.StrEnum):
    """What kind of committee an org is."""

    justice_bureau = "justice_bureau"  # 司法局: the administrative root of a district
    people = "people"  # 人民调解委员会 of a town, village or community
    professional = "professional"  # 行业性专业性调委会 (medical, labour, IP, …)
    court = "court"  # 驻法院调解室 (诉调)
    police = "police"  # 驻派出所调解室 (警调)
    petition = "petition"  # 信访事项调解 (访调)


LEVEL_DEPTH = {OrgLevel.city: 0, OrgLevel.district: 1, OrgLevel.town: 2, OrgLevel.village: 3}


def child_path(parent_path: str | None, org_id: str) -> str:
    """Materialised path of an org: '/root/…/self/'. A subtree is every path with this prefix."""
    return f"{parent_path or '/'}{org_id}/"


def in_subtree(path: str, ancestor_path: str) -> bool:
    """True when the org at `path` is `ancestor_path` itself or below it."""
    return path.startswith(ancestor_path)

"""The information categories a patient consents to per facility (電子カルテ情報共有サービス's
6 information + 3 documents, grouped as the consent screen shows them)."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    DIAGNOSES = "diagnoses"  # 傷病名
    ALLERGIES = "allergies"  # アレルギー
    INFECTIONS = "infections"  # 感染症
    CONTRAINDICATIONS = "contraindications"  # 薬剤禁忌
    LABS = "labs"  # 検査
    PRESCRIPTIONS = "prescriptions"  # 処方・調剤 (medication information)
    DOCUMENTS = "documents"  # 診療情報提供書, 退院時サマリー, 健診結果報告書

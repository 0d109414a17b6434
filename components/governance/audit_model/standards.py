"""Which checks each standard's section holds, with the provision each check evidences.

A checklist aid mapping engineering evidence to provisions, not legal advice: the report
says so. A check shared by several standards is counted once in the totals.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Standard:
    """One section of the report: its name, what it is, and (check id, provision) pairs."""

    key: str
    name: str
    reference: str
    items: tuple[tuple[str, str], ...]

    @property
    def check_ids(self) -> list[str]:
        """The ids of the checks in this section."""
        return [check_id for check_id, _ in self.items]


GDPR = Standard(
    "gdpr",
    "GDPR",
    "EU General Data Protection Regulation, Regulation (EU) 2016/679",
    (
        ("data_minimisation", "Art. 5(1)(c) data minimisation; Art. 25 protection by design"),
        ("retention", "Art. 5(1)(e) storage limitation"),
        ("data_validation", "Art. 5(1)(d) accuracy of personal data"),
        ("explainability", "Art. 13-15 and 22: meaningful information about the logic"),
        ("human_oversight", "Art. 22(3) human intervention in automated decisions"),
    ),
)
CCPA = Standard(
    "ccpa",
    "CCPA",
    "California Consumer Privacy Act as amended by the CPRA, Cal. Civ. Code 1798.100 ff.",
    (
        (
            "data_minimisation",
            "1798.100(c) collection and use reasonably necessary and proportionate; "
            "1798.121 sensitive personal information",
        ),
        ("retention", "1798.100(a)(3) retention period disclosed and no longer than necessary"),
        (
            "explainability",
            "CPPA regulations on automated decision-making technology: information about "
            "the logic on request",
        ),
    ),
)
EU_AI_ACT = Standard(
    "eu_ai_act",
    "EU AI Act",
    "Artificial Intelligence Act, Regulation (EU) 2024/1689",
    (
        ("risk_classification", "Art. 5 prohibited practices; Art. 6 and Annex III high risk"),
        ("data_validation", "Art. 10 data and data governance"),
        ("drift_checked", "Art. 10(2)-(4) data suitable for the intended population"),
        ("model_card", "Art. 11 and Annex IV technical documentation"),
        ("explainability", "Art. 13 transparency and information to deployers"),
        ("human_oversight", "Art. 14 human oversight"),
        ("evaluation_thresholds", "Art. 15 accuracy and robustness"),
        ("champion_comparison", "Art. 17 quality management: release decisions recorded"),
    ),
)
GENERIC = Standard(
    "generic",
    "Generic ML governance",
    "The runbook's release checklist for any model",
    (
        ("data_validation", "input data validated before training"),
        ("drift_checked", "data compared with a reference"),
        ("evaluation_thresholds", "release thresholds met"),
        ("champion_comparison", "challenger compared with the model it replaces"),
        ("model_card", "model card complete"),
        ("explainability", "explanation of the model attached"),
        ("data_minimisation", "personal data declared or removed"),
        ("retention", "data within its retention period"),
        ("risk_classification", "use case risk classified"),
        ("human_oversight", "human approval where the risk requires it"),
    ),
)
#: The report's sections, in order.
STANDARDS = (GDPR, CCPA, EU_AI_ACT, GENERIC)

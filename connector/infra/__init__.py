"""The CDK app: constructs that deploy the crawlers, the detector and their storage.

This package is the only part of ``connector`` that imports ``aws_cdk``; it reuses the
runtime's params model so that ``cdk synth`` validates params.json exactly as the
Lambdas and the CLI do. Entry points: :func:`connector.infra.synth.build_app` (what
``app.py`` runs) and :func:`connector.infra.synth.synth_template` (the template as a
dict, for the offline runtime and the tests).
"""

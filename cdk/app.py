"""Entry point of the Sluice CDK app: `make synth` and `npx aws-cdk@2 synth|deploy` run this file.

Everything lives in ``sluice_cdk.app``; this file only points it at ``cdk.json``, whose context (feature
flags) the plain ``python app.py`` run would otherwise ignore.
"""

from __future__ import annotations

from pathlib import Path

from sluice_cdk.app import main

raise SystemExit(main(Path(__file__).with_name("cdk.json")))

"""The CDK app: ``npx cdk synth`` / ``npx cdk deploy`` run this file (see cdk.json).

Options (CDK context): ``-c params=path/to/params.json`` (default ``params.json``),
``-c bundle=false`` to skip downloading the Lambdas' dependencies when only the
template is needed. An invalid params.json stops synth with the same message as
``connector validate``.
"""

from __future__ import annotations

import os
import sys

from connector.errors import ConnectorError

# jsii prints a banner on every synth under Node 20 (end of life); the project pins and
# documents its toolchain, so the banner only hides the synth's own messages.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")


def main() -> None:
    # Imported here so that a missing CDK install is a plain ImportError, not a crash
    # in the middle of validating params.json.
    from connector.infra.synth import build_app

    try:
        app, _ = build_app()
    except ConnectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    app.synth()


if __name__ == "__main__":
    main()

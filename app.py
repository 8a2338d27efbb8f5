"""The CDK app: ``npx cdk synth`` / ``npx cdk deploy`` run this file (see cdk.json).

Options (CDK context): ``-c params=path/to/params.json`` (default ``params.json``),
``-c bundle=false`` to skip downloading the Lambdas' dependencies when only the
template is needed. An invalid params.json stops synth with the same message as
``connector validate``.
"""

from __future__ import annotations

import sys

from connector.errors import ConnectorError


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

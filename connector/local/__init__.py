"""Run the connector offline: DuckDB stands in for Redshift, moto for AWS.

:class:`~connector.local.runtime.LocalRuntime` executes the synthesized state
machines in-process; :class:`~connector.local.redshift_data.DuckDBDataApi` is the
Redshift Data API it runs their statements on. Both are imported from their modules
(not re-exported here) so that importing this package does not start pulling in moto.
"""

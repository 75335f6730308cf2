"""offtrust: Docker Content Trust (Notary / TUF) key and metadata management, offline.

offtrust reads an exported copy of a Docker trust directory (``~/.docker/trust``)
on an air-gapped machine, verifies its TUF metadata, edits delegations and tags
into a staged layer, and packs the signed result into a deterministic bundle that
a thin online step publishes to a Notary server later.
"""

__version__ = "0.1.0"

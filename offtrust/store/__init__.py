"""The only package that touches the filesystem: the Docker / Notary trust directory."""

"""The top-level ``--help`` of offtrust, as the full command line renders it at 80 columns.

:func:`offtrust._entry.quick` prints it for ``offtrust --help`` on a stream that
is not a terminal (the width is then 80), without importing typer; anything
else goes to the full command line. ``<PROG>`` is the program name click
shows. A test renders the real help and fails when this copy is stale
(tests/unit/cli/test_lazy_commands.py::test_the_quick_top_help_is_the_full_one);
regenerate it from ``python -m offtrust --help | cat``, with ``<PROG>`` for the
program name after ``Usage:``.
"""

TOP_HELP = """Usage: <PROG> [OPTIONS] COMMAND [ARGS]...

  Manage Docker Content Trust (Notary / TUF) keys and metadata offline.

  Example: offtrust -d ./trust verify --all

Options:
  -d, --trust-dir PATH  The exported Docker trust directory (default:
                        $OFFTRUST_TRUST_DIR, $DOCKER_CONFIG/trust,
                        ~/.docker/trust).
  --debug               Show tracebacks instead of one-line errors.
  --version             Print the version.
  --install-completion  Install completion for the current shell.
  --show-completion     Show completion for the current shell, to copy it or
                        customize the installation.
  -h, --help            Show this message and exit.

Commands:
  inspect     Show signed tags, signers and administrative keys, as `docker
              trust inspect`.
  verify      Verify the whole TUF chain offline (all GUNs when none is
              named).
  doctor      Audit the whole trust directory; name each problem and the
              command that fixes it.
  witness     Re-sign delegations with the valid local keys (fixes "no valid
              signatures").
  resign      Re-sign roles with the local keys: new version and expiry, same
              content.
  status      List the staged edits of each GUN (default: every GUN with edits
              not yet published).
  diff        Show the staged edits of a GUN against its published state
              (unified diff).
  reset       Drop the staged edits of the given GUNs.
  stage       Pack the staged, signed metadata into one deterministic bundle;
              print its sha256.
  rebase      Replay the staged edits of GUNs on their newer published state
              (after fetch).
  fetch       Refresh published metadata from a Notary server, verified
              against the trusted root.
  publish     Upload a bundle's metadata to a Notary server, GUN by GUN, and
              verify the result.
  key         List, generate, load, export and remove local private keys.
  repo        Whole repositories: delete one.
  delegation  List and edit delegations (like `notary delegation ...`).
  signer      Add and remove signers (like `docker trust signer ...`).
  target      Sign and revoke tags offline (like `docker trust sign/revoke`).
  bundle      Read and check bundles offline.
"""

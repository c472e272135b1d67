# Sourced by start.sh and test.sh: a virtualenv with the pinned requirements, and compiled
# translation catalogues. Cheap when everything is already in place.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  .venv/bin/pip install -q -r requirements.txt
  touch .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
if ls translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then
  pybabel -q compile -d translations
fi

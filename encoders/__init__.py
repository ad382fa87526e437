"""Encoder configurations (YAML) and prompt files, installed as package data.

This folder is the top-level ``encoders/`` of the repository; pyproject.toml installs it as the
package ``pyserini_diffretriever.configs`` so that ``diffretriever-<name>`` resolves to
``<name>.yaml`` here from any working directory.
"""

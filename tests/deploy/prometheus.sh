#!/bin/sh
# The Prometheus alert rules: `promtool check rules` (syntax, templates) and
# `promtool test rules` (each alert fires when and only when it should).
#   tests/deploy/prometheus.sh deploy/prometheus
set -eu
dir=$1
cd "$dir"
promtool check rules limes.rules.yml
promtool test rules tests/limes.rules.test.yml

//! Prometheus registry (DESIGN §4) and its hyper exporter (in progress).

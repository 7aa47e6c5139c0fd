//! `armorc recommend`: image sources, layer index, template library, matching, rendering, reports.

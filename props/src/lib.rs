//! Shared generators and oracles for the R1-R4 property tests and the fuzz targets.
#![forbid(unsafe_code)]

/// The version `strata --version` prints: the one place it is written. Raise it with each release.
let strataVersion = "0.2.0"

package doctor

// cgoChecks returns the cgo section's checks.
func cgoChecks() []Check { return nil }

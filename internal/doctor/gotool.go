package doctor

// goChecks returns the go section's checks.
func goChecks() []Check { return nil }

package doctor

// kernelChecks returns the kernel section's checks.
func kernelChecks() []Check { return nil }

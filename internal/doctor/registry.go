package doctor

// All returns every check, in report order: section by section.
func All() []Check {
	var all []Check
	for _, section := range [][]Check{
		boardChecks(),
		goChecks(),
		storageChecks(),
		networkChecks(),
		cgoChecks(),
		kernelChecks(),
		gpuChecks(),
	} {
		all = append(all, section...)
	}
	return all
}

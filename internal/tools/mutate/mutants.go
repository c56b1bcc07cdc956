package main

// mutants are the bugs each package's tests must catch: the kinds a
// mutation audit of the suite used (issue 13) and more of the same kinds
// per package: a missing fsync, wrong durable order, an inverted
// condition, a dropped check or error, a removed single flight or lock,
// an off-by-one in a limit, a skipped verification. Add one when a review
// finds a promise no test guards; keep Old as small as stays unique.
var mutants = []mutant{
	// atomicfile (the shared mechanism under store, ramdisk, tune, toolchain)
	{Pkg: "atomicfile", File: "atomicfile.go", Name: "Write skips the temp file's fsync",
		Edits: []edit{
			{"\tif err = ops.Fsync(f); err != nil {", "\tif false {"},
			{"\tif err = f.Sync(); err != nil {", "\tif false {"},
		},
		Killer: "TestWriteDurableOrder"},
	{Pkg: "atomicfile", File: "atomicfile.go", Name: "Write drops fill's error",
		Edits:  []edit{{"if err = fill(f); err != nil {", "if err = fill(f); false && err != nil {"}},
		Killer: "TestFailedFillKeepsOldAndLeavesNoTemp"},

	// modfetch
	{Pkg: "modfetch", File: "modfetch.go", Name: "zip hash not checked against the checksum database",
		Edits:  []edit{{"if err := f.Verify(ctx, path, vers, hash); err != nil {", "if err := f.Verify(ctx, path, vers, hash); false && err != nil {"}},
		Killer: "TestRefusals"},
	{Pkg: "modfetch", File: "modfetch.go", Name: "go.mod not checked against the checksum database",
		Edits:  []edit{{"if err := f.VerifyGoMod(ctx, path, vers, data); err != nil {", "if err := f.VerifyGoMod(ctx, path, vers, data); false && err != nil {"}},
		Killer: "TestTamperedGoModRefused"},
	{Pkg: "modfetch", File: "modfetch.go", Name: "zip structure not checked (x/mod/zip.CheckZip)",
		Edits:  []edit{{"file); err != nil {\n\t\treturn \"\", fmt.Errorf(\"%s@%s: invalid module zip", "file); false && err != nil {\n\t\treturn \"\", fmt.Errorf(\"%s@%s: invalid module zip"}},
		Killer: "TestVouchedButInvalidZipRefused"},
	{Pkg: "modfetch", File: "hashzip.go", Name: "zip hash over unsorted names",
		Edits:  []edit{{"\tslices.Sort(names)\n", "\t_ = slices.Sort[[]string]\n"}},
		Killer: "TestHashZipMatchesDirhash"},
	{Pkg: "modfetch", File: "modfetch.go", Name: "zip size limit off by one (announced size)",
		Edits:  []edit{{"if size > limit {", "if size > limit+1 {"}},
		Killer: "TestZipOverAnnouncedLimitReadsNothing"},

	// modproxy
	{Pkg: "modproxy", File: "handler.go", Name: "metadata single flight made per request",
		Edits:  []edit{{"h.sf.DoChan(req.Key,", "new(singleflight.Group).DoChan(req.Key,"}},
		Killer: "TestConcurrentColdMetadataOneFetchEach"},
	{Pkg: "modproxy", File: "zip.go", Name: "zip flight not shared (a fetch per client)",
		Edits:  []edit{{"if fl := h.flights[req.Key]; fl != nil {", "if fl := h.flights[req.Key]; fl != nil && false {"}},
		Killer: "TestConcurrentColdRequestsOneFetch"},
	{Pkg: "modproxy", File: "handler.go", Name: "not-found answers not remembered",
		Edits:  []edit{{"if msg, ok := h.isNegative(req.Key); ok && stale == nil {", "if msg, ok := h.isNegative(req.Key); false && ok && stale == nil {"}},
		Killer: "TestNotFoundCachedBriefly"},
	{Pkg: "modproxy", File: "handler.go", Name: "list freshness inverted",
		Edits:  []edit{{"time.Since(mod) < h.ListTTL", "time.Since(mod) > h.ListTTL"}},
		Killer: "TestGraphBuildsThenBuildsOffline"},

	// store
	{Pkg: "store", File: "disk.go", Name: "Commit skips the file fsync",
		Edits:  []edit{{"\tif !w.d.opt.NoSync {", "\tif false {"}},
		Killer: "TestCommitDurableOrder"},
	{Pkg: "store", File: "disk.go", Name: "Commit skips the directory fsync",
		Edits:  []edit{{"\tif !d.opt.NoSync {", "\tif false {"}},
		Killer: "TestCommitDurableOrder"},
	{Pkg: "store", File: "disk.go", Name: "object size limit off by one",
		Edits:  []edit{{"size+int64(len(b)) > max {", "size+int64(len(b)) > max+1 {"}},
		Killer: "TestDiskConformance"},
	{Pkg: "store", File: "disk.go", Name: "eviction never starts",
		Edits:  []edit{{"over := d.bytes > max", "over := d.bytes > 2*max"}},
		Killer: "TestDiskConformance"},

	// buildcache
	{Pkg: "buildcache", File: "prog.go", Name: "body-read failures never reach the breaker",
		Edits:  []edit{{"\t} else {\n\t\tp.Remote.Report(err)", "\t} else {\n\t\tp.Remote.Report(nil)"}},
		Killer: "TestBodyCutOpensBreaker"},
	{Pkg: "buildcache", File: "prog.go", Name: "corrupt objects open the breaker",
		Edits:  []edit{{"\t\tp.Remote.Report(nil)\n\t} else {", "\t\tp.Remote.Report(err)\n\t} else {"}},
		Killer: "TestCorruptObjectsKeepBreakerClosed"},
	{Pkg: "buildcache", File: "client.go", Name: "breaker opens one failure late",
		Edits:  []edit{{"if c.failures >= n {", "if c.failures > n {"}},
		Killer: "TestClientBreaker"},
	{Pkg: "buildcache", File: "local.go", Name: "object hash not verified",
		Edits:  []edit{{"if sum != w.out {", "if false && sum != w.out {"}},
		Killer: "TestLocalTier"},

	// toolchain
	{Pkg: "toolchain", File: "install.go", Name: "install switches current before checking an installed bin/go",
		Edits: []edit{{"\tif native && res.Output == \"\" {",
			"\tif native && !in.NoUse && res.Already {\n\t\tif err := in.Layout.Use(name); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t}\n\tif native && res.Output == \"\" {"}},
		Killer: "TestInstallOfBrokenInstalledVersionKeepsCurrent"},
	{Pkg: "toolchain", File: "install.go", Name: "installed bin/go never checked",
		Edits:  []edit{{"if native && res.Output == \"\" {", "if false && native && res.Output == \"\" {"}},
		Killer: "TestInstallOfBrokenInstalledVersionKeepsCurrent"},
	{Pkg: "toolchain", File: "layout.go", Name: "remove of the active toolchain allowed",
		Edits:  []edit{{"if l.Active() == name {", "if l.Active() == name+\"-\" {"}},
		Killer: "TestInstallUseListRemove, TestRemoveActiveKeepsIt"},
	{Pkg: "toolchain", File: "install.go", Name: "GOSUMDB=off accepted",
		Edits:  []edit{{"if in.Env.NoSumDB(ModulePath) && !in.Insecure {", "if false && in.Env.NoSumDB(ModulePath) && !in.Insecure {"}},
		Killer: "TestSumDBOffRefused"},

	{Pkg: "toolchain", File: "unpack.go", Name: "unpack returns before its writers finish",
		Edits:  []edit{{"\twg.Wait()\n\treturn context.Cause(ctx)", "\treturn context.Cause(ctx)"}},
		Killer: "TestUnpackManyFiles"},
	{Pkg: "toolchain", File: "unpack.go", Name: "unpack's hash leaves out what it writes",
		Edits:  []edit{{"w := io.MultiWriter(fdWriter{fd: fd, name: target}, h)", "w := io.MultiWriter(fdWriter{fd: fd, name: target})"}},
		Killer: "TestUnpackHashIsDirhash"},

	// ramdisk
	{Pkg: "ramdisk", File: "sync.go", Name: "sync journal written before the staged files are flushed",
		Edits: []edit{
			{"\t\tif err := s.fs.SyncFS(sd); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, err\n\t\t}\n\t\tif err := s.fs.WriteFile(s.journal(), encodeJournal(h, ops), 0o600); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, fmt.Errorf(\"writing sync journal: %w\", err)\n\t\t}\n",
				"\t\tif err := s.fs.WriteFile(s.journal(), encodeJournal(h, ops), 0o600); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, fmt.Errorf(\"writing sync journal: %w\", err)\n\t\t}\n\t\tif err := s.fs.SyncFS(sd); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, err\n\t\t}\n"},
			{"\t\tif err := atomicfile.SyncFS(sd); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, err\n\t\t}\n\t\tif err := atomicfile.WriteFile(s.journal(), encodeJournal(h, ops), 0o600); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, fmt.Errorf(\"writing sync journal: %w\", err)\n\t\t}\n",
				"\t\tif err := atomicfile.WriteFile(s.journal(), encodeJournal(h, ops), 0o600); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, fmt.Errorf(\"writing sync journal: %w\", err)\n\t\t}\n\t\tif err := atomicfile.SyncFS(sd); err != nil {\n\t\t\tos.RemoveAll(sd)\n\t\t\treturn rec, err\n\t\t}\n"},
		},
		Killer: "TestSyncDurableOrder"},
	{Pkg: "ramdisk", File: "sync.go", Name: "sync goes on before the staging copiers finish",
		Edits:  []edit{{"\t\tclose(pl.jobs)\n\t\twg.Wait()\n", "\t\tclose(pl.jobs)\n"}},
		Killer: "TestSyncStagesManyFiles"},
	{Pkg: "ramdisk", File: "sync.go", Name: "interrupted sync discarded instead of replayed",
		Edits:  []edit{{"data, err := os.ReadFile(s.journal())", "data, err := os.ReadFile(s.journal() + \".none\")"}},
		Killer: "TestKillDuringSync"},
	{Pkg: "ramdisk", File: "journal.go", Name: "journal paths outside the disk copy accepted",
		Edits:  []edit{{"if !localPath(o.P) {", "if false && !localPath(o.P) {"}},
		Killer: "TestJournalRefusesEscapes"},

	// tune
	{Pkg: "tune", File: "apply.go", Name: "apply takes no lock",
		Edits:  []edit{{"\t\tr, lerr := t.lock()\n\t\tif lerr != nil {\n\t\t\treturn nil, nil, lerr\n\t\t}", "\t\tr, lerr := func() {}, error(nil)\n\t\tif lerr != nil {\n\t\t\treturn nil, nil, lerr\n\t\t}"}},
		Killer: "TestApplyLocked"},
	{Pkg: "tune", File: "apply.go", Name: "apply over an applied profile allowed",
		Edits:  []edit{{"func (t *Tuner) checkNotApplied() error {", "func (t *Tuner) checkNotApplied() error {\n\tif true {\n\t\treturn nil\n\t}"}},
		Killer: "TestApplyRevertFake"},

	// host
	{Pkg: "host", File: "throttle.go", Name: "since-boot throttle bits off by one",
		Edits:  []edit{{"return t.names(16)", "return t.names(15)"}},
		Killer: "TestParseThrottle, TestThrottleNames"},
	{Pkg: "host", File: "throttle.go", Name: "HasOccurred reads the wrong half",
		Edits:  []edit{{"return t&(c<<16) != 0", "return t&c != 0"}},
		Killer: "TestParseThrottle, TestThrottleNames"},

	// doctor
	{Pkg: "doctor", File: "board.go", Name: "fix advice keyed on throttled, not under-voltage",
		Edits:  []edit{{"case t.Has(host.UnderVoltage) || t.HasOccurred(host.UnderVoltage):", "case t.Has(host.Throttled) || t.HasOccurred(host.Throttled):"}},
		Killer: "TestThrottleEachBitAlone"},
	{Pkg: "doctor", File: "board.go", Name: "throttle OK when only one half is clear",
		Edits:  []edit{{"case len(now) == 0 && len(since) == 0:", "case len(now) == 0 || len(since) == 0:"}},
		Killer: "TestCapturePi5SD, TestThrottleEachBitAlone"},
}

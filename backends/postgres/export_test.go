package postgres

// SetBeforeCommit makes every Commit call f just before it sends COMMIT,
// until the returned func restores the default.
func SetBeforeCommit(f func()) (restore func()) {
	beforeCommit = f
	return func() { beforeCommit = nil }
}

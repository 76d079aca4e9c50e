package zookeeper

// SetBeforeMulti makes every Commit call f just before it sends its multi,
// until the returned func restores the default.
func SetBeforeMulti(f func()) (restore func()) {
	beforeMulti = f
	return func() { beforeMulti = nil }
}

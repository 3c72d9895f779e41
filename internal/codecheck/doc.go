// Package codecheck holds repository-wide tests that keep the code base
// honest: every package has a doc comment, and the import boundaries that
// guard security properties hold (the Signal-protocol library does no I/O,
// nothing outside tests links the testing package).
//
// It has no exported API; its tests read the source tree.
package codecheck

// Package archtest holds the test that keeps the import graph the shape
// ARCHITECTURE.md gives it. It has no code of its own.
package archtest

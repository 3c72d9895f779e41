// Package scenario reads, validates and builds the censor lab's scenarios:
// JSON files that say who takes part in a run (clients per strategy,
// bystander services), for how long, against which censor (a preset of
// package censor plus overrides) and how each strategy's operator reacts.
// See README.md in this directory for every field, its unit and default.
package scenario

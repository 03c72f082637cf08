//go:build race

package deploy

// raceEnabled is true under -race, where SQLite runs 5 to 10 times slower.
const raceEnabled = true

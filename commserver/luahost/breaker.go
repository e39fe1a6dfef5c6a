package luahost

import "time"

const (
	breakerTrips    = 5
	breakerCooldown = 10 * time.Second
)

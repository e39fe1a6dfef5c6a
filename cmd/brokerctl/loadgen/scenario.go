package loadgen

import (
	"fmt"
	"strings"
)

// Scenario names what the simulated clients subscribe to and publish on.
type Scenario string

// The scenarios of the benchmark suite.
const (
	// Dense puts every client on one topic, all to all: each message is
	// delivered to every other client.
	Dense Scenario = "dense"
	// Sparse spreads clients over many topics with few subscribers each; a
	// client publishes on the topic it subscribes to.
	Sparse Scenario = "sparse"
	// Mesh is dense with the clients spread over the servers of a mesh (the
	// coordinator's selector spreads them); the report counts clients per server.
	Mesh Scenario = "mesh"
	// Policy is dense on a topic that a Lua rule governs.
	Policy Scenario = "policy"
	// JoinStorm connects every client at once and measures the time until all
	// are subscribed, then holds them idle to measure server memory per client.
	JoinStorm Scenario = "join-storm"
)

// Scenarios lists every scenario, for usage text and validation.
var Scenarios = []Scenario{Dense, Sparse, Mesh, Policy, JoinStorm, World}

// ParseScenario accepts a scenario's name.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	names := make([]string, len(Scenarios))
	for i, sc := range Scenarios {
		names[i] = string(sc)
	}
	return "", fmt.Errorf("scenario %q: want one of %s", s, strings.Join(names, ", "))
}

// defaultTopic is the topic (or the topic prefix, for sparse) of a scenario,
// so a Lua rule in the bench can govern the policy scenario's topic alone.
func (s Scenario) defaultTopic() string {
	return "load." + strings.ReplaceAll(string(s), "-", "")
}

// plan is who subscribes to and publishes on which topic. Client i publishes
// on publish[i] and subscribes to exactly that topic, in every scenario.
type plan struct {
	publish []string
}

// newPlan assigns topics to n clients; topics is the number of topics of the
// sparse scenario and is ignored by the others.
func newPlan(s Scenario, n, topics int, base string) plan {
	p := plan{publish: make([]string, n)}
	for i := range p.publish {
		if s == Sparse {
			p.publish[i] = fmt.Sprintf("%s.%d", base, i%max(topics, 1))
		} else {
			p.publish[i] = base
		}
	}
	return p
}

// fanout returns, for each client, how many other clients should receive each
// of its messages: the other subscribers of its topic among the clients that
// are connected (up[i]).
func (p plan) fanout(up []bool) []int {
	subs := map[string]int{}
	for i, t := range p.publish {
		if up[i] {
			subs[t]++
		}
	}
	out := make([]int, len(p.publish))
	for i, t := range p.publish {
		if up[i] {
			out[i] = subs[t] - 1
		}
	}
	return out
}

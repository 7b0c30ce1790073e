package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// evaluateResult is Argo's EvaluateResult (utils/evaluate/evaluate.go) with the phases as strings.
func evaluateResult(result any, success, failure string) (string, error) {
	successCondition := false
	failCondition := false
	var err error
	if success != "" {
		successCondition, err = EvalCondition(result, success)
		if err != nil {
			return "Error", formatEvalError(err, "successCondition", success, result)
		}
	}
	if failure != "" {
		failCondition, err = EvalCondition(result, failure)
		if err != nil {
			return "Error", formatEvalError(err, "failureCondition", failure, result)
		}
	}
	switch {
	case success == "" && failure == "":
		return "Successful", nil
	case success != "" && failure == "":
		failCondition = !successCondition
	case success == "" && failure != "":
		successCondition = !failCondition
	}
	if failCondition {
		return "Failed", nil
	}
	if !failCondition && !successCondition {
		return "Inconclusive", nil
	}
	return "Successful", nil
}

func num(s string) float64 {
	switch s {
	case "NaN":
		return math.NaN()
	case "+Inf":
		return math.Inf(1)
	case "-Inf":
		return math.Inf(-1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

// parseResult: "[]" / "[1, 2]" → []float64 (as the Prometheus provider builds it), else a float64.
func parseResult(s string) any {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") {
		return num(s)
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	out := make([]float64, 0)
	if inner == "" {
		return out
	}
	for _, p := range strings.Split(inner, ",") {
		out = append(out, num(strings.TrimSpace(p)))
	}
	return out
}

type input struct {
	Success string   `json:"success"`
	Failure string   `json:"failure"`
	Results []string `json:"results"`
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var in input
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			panic(err)
		}
		phases := []string{}
		msgs := []string{}
		for _, r := range in.Results {
			func() {
				defer func() {
					if p := recover(); p != nil {
						phases = append(phases, "Panic")
						msgs = append(msgs, fmt.Sprint(p))
					}
				}()
				ph, err := evaluateResult(parseResult(r), in.Success, in.Failure)
				phases = append(phases, ph)
				if err != nil {
					msgs = append(msgs, err.Error())
				} else {
					msgs = append(msgs, "")
				}
			}()
		}
		b, _ := json.Marshal(map[string]any{"phases": phases, "messages": msgs})
		fmt.Println(string(b))
	}
}

package kafka_test

import (
	"strconv"
	"testing"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/testenv"
)

func TestReplication_keeps_up_to_three_copies_and_asks_two_of_them_to_acknowledge(t *testing.T) {
	cases := map[string]struct {
		setting         int16
		brokers         int
		wantRF, wantISR int16
	}{
		"auto_one_broker":       {kafka.AutoReplication, 1, 1, 1},
		"auto_two_brokers":      {kafka.AutoReplication, 2, 2, 2},
		"auto_three_brokers":    {kafka.AutoReplication, 3, 3, 2},
		"auto_five_brokers":     {kafka.AutoReplication, 5, 3, 2},
		"auto_no_broker_listed": {kafka.AutoReplication, 0, 1, 1},
		"explicit_one":          {1, 5, 1, 1},
		"explicit_five":         {5, 3, 5, 2},
		"broker_default":        {kafka.BrokerDefault, 3, -1, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rf, isr := kafka.Replication(c.setting, c.brokers)
			if rf != c.wantRF || isr != c.wantISR {
				t.Fatalf("Replication(%d, %d) = %d, %d; want %d, %d", c.setting, c.brokers, rf, isr, c.wantRF, c.wantISR)
			}
		})
	}
}

// On the stack's cluster (one broker under make test, three on the chaos
// stack), the topics renderd creates by default keep min(3, brokers) copies
// and ask two of them to acknowledge a write when there are two or more.
func TestEnsureTopics_auto_replicates_over_the_cluster_s_brokers(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topics := kafka.Topics{Prefix: testenv.TopicPrefix(t)}
	if err := kafka.EnsureTopics(t.Context(), brokers, topics.All(), kafka.TopicSettings{Partitions: 3, ReplicationFactor: kafka.AutoReplication}, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	cluster, _, err := admin.DescribeCluster()
	if err != nil {
		t.Fatal(err)
	}
	wantRF, wantISR := kafka.Replication(kafka.AutoReplication, len(cluster))
	t.Logf("%d brokers: want %d copies, min.insync.replicas %d", len(cluster), wantRF, wantISR)

	metas, err := admin.DescribeTopics(topics.All())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		if len(m.Partitions) != 3 {
			t.Errorf("%s: %d partitions, want 3", m.Name, len(m.Partitions))
		}
		for _, p := range m.Partitions {
			if len(p.Replicas) != int(wantRF) {
				t.Errorf("%s/%d: replicas %v, want %d of them", m.Name, p.ID, p.Replicas, wantRF)
			}
		}
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: m.Name,
			ConfigNames: []string{"min.insync.replicas", "retention.ms"}}}, sarama.DescribeConfigsOptions{})
		if err != nil || len(res) != 1 {
			t.Fatalf("describe %s: %v", m.Name, err)
		}
		got := map[string]string{}
		for _, e := range res[0].Configs {
			got[e.Name] = e.Value
		}
		if got["min.insync.replicas"] != strconv.Itoa(int(wantISR)) || got["retention.ms"] != "-1" {
			t.Errorf("%s: configs %v, want min.insync.replicas %d and retention.ms -1", m.Name, got, wantISR)
		}
	}
}

package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

// containerLifetime bounds how long dockertest's containers may outlive a
// test binary that died without cleaning up.
const containerLifetime = 30 * 60 // seconds

// startContainers provisions Postgres and a single-node KRaft Kafka with
// dockertest. It is the fallback for machines with Docker but without the
// local stack; our CI machines have no Docker daemon and never get here.
func startContainers() (Stack, error) {
	pool, err := dockertest.NewPool("")
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		return Stack{}, fmt.Errorf("no DATABASE_URL/KAFKA_BROKERS, no .data/stack.env and no Docker daemon (%w)", err)
	}
	pool.MaxWait = 2 * time.Minute

	pg, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "postgres", Tag: "15",
		Env: []string{"POSTGRES_USER=renderd", "POSTGRES_PASSWORD=renderd", "POSTGRES_DB=renderd"},
	}, func(hc *docker.HostConfig) { hc.AutoRemove = true })
	if err != nil {
		return Stack{}, fmt.Errorf("start postgres container: %w", err)
	}
	_ = pg.Expire(containerLifetime)
	dsn := "postgres://renderd:renderd@" + pg.GetHostPort("5432/tcp") + "/renderd?sslmode=disable"
	if err := pool.Retry(func() error {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			return err
		}
		return c.Close(context.Background())
	}); err != nil {
		return Stack{}, fmt.Errorf("postgres container: %w", err)
	}

	// Kafka advertises the address clients must use, so the host port is
	// chosen up front rather than left to Docker.
	port, err := freePort()
	if err != nil {
		return Stack{}, err
	}
	hostPort := strconv.Itoa(port)
	kafka, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "apache/kafka", Tag: "4.0.0",
		Env: []string{
			"KAFKA_NODE_ID=1",
			"KAFKA_PROCESS_ROLES=broker,controller",
			"KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093",
			"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:" + hostPort,
			"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE=false",
		},
		PortBindings: map[docker.Port][]docker.PortBinding{"9092/tcp": {{HostIP: "127.0.0.1", HostPort: hostPort}}},
	}, func(hc *docker.HostConfig) { hc.AutoRemove = true })
	if err != nil {
		return Stack{}, fmt.Errorf("start kafka container: %w", err)
	}
	_ = kafka.Expire(containerLifetime)
	brokers := []string{"127.0.0.1:" + hostPort}
	if err := pool.Retry(func() error {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		client, err := sarama.NewClient(brokers, cfg)
		if err != nil {
			return err
		}
		defer client.Close()
		if len(client.Brokers()) == 0 {
			return errors.New("no brokers yet")
		}
		return nil
	}); err != nil {
		return Stack{}, fmt.Errorf("kafka container: %w", err)
	}
	return Stack{DatabaseURL: dsn, KafkaBrokers: brokers}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

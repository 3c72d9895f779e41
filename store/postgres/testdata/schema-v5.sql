--
-- PostgreSQL database dump
--

\restrict 6fL9DCJhP3SD3ulNTahscxk9xQL3OBBSvFxZUrB3FROIjKoiYeYqldoEtjgYVDl

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: accounts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.accounts (
    id bytea NOT NULL,
    username bytea NOT NULL,
    identity_key bytea NOT NULL,
    ua_key bytea,
    ua_unrestricted boolean NOT NULL,
    created bigint NOT NULL
);


--
-- Name: channel_posts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.channel_posts (
    channel bytea NOT NULL,
    seq bigint NOT NULL,
    id bytea NOT NULL,
    content bytea NOT NULL,
    signature bytea NOT NULL,
    server_time bigint NOT NULL
);


--
-- Name: channels; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.channels (
    id bytea NOT NULL,
    admin_key bytea NOT NULL,
    token_hash bytea NOT NULL,
    created bigint NOT NULL,
    last_seq bigint DEFAULT 0 NOT NULL
);


--
-- Name: devices; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.devices (
    account bytea NOT NULL,
    id bigint NOT NULL,
    registration_id bigint NOT NULL,
    noise_key bytea NOT NULL,
    created bigint NOT NULL,
    spk_id bigint,
    spk bytea,
    spk_sig bytea,
    kyber_lr_id bigint,
    kyber_lr bytea,
    kyber_lr_sig bytea,
    name bytea,
    last_seen bigint DEFAULT 0 NOT NULL,
    slot bigint DEFAULT 0 NOT NULL
);


--
-- Name: ec_prekeys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ec_prekeys (
    account bytea NOT NULL,
    device bigint NOT NULL,
    id bigint NOT NULL,
    public_key bytea NOT NULL
);


--
-- Name: kyber_prekeys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.kyber_prekeys (
    account bytea NOT NULL,
    device bigint NOT NULL,
    id bigint NOT NULL,
    public_key bytea NOT NULL,
    signature bytea NOT NULL
);


--
-- Name: mailbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mailbox (
    seq bigint NOT NULL,
    account bytea NOT NULL,
    device bigint NOT NULL,
    id bytea NOT NULL,
    type bigint NOT NULL,
    source_account bytea NOT NULL,
    source_device bigint NOT NULL,
    sealed boolean NOT NULL,
    "timestamp" bigint NOT NULL,
    server_time bigint NOT NULL,
    content bytea NOT NULL
);


--
-- Name: mailbox_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.mailbox ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.mailbox_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: mailbox_usage; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mailbox_usage (
    account bytea NOT NULL,
    device bigint NOT NULL,
    count bigint NOT NULL,
    bytes bigint NOT NULL
)
WITH (fillfactor='50');


--
-- Name: rate_buckets; Type: TABLE; Schema: public; Owner: -
--

CREATE UNLOGGED TABLE public.rate_buckets (
    key bytea NOT NULL,
    tokens double precision NOT NULL,
    last bigint NOT NULL,
    burst double precision NOT NULL,
    rate double precision NOT NULL
);


--
-- Name: removed_devices; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.removed_devices (
    noise_key bytea NOT NULL,
    account bytea NOT NULL,
    device bigint NOT NULL,
    removed bigint NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.accounts VALUES ('\xa1010000000000000000000000000000', '\x616c696365', '\xa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', '\xa2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2', false, 1795953600000000000);
INSERT INTO public.accounts VALUES ('\xb0020000000000000000000000000000', '\x626f62', '\xb0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0', NULL, true, 1796040000000000000);


--
-- Data for Name: channel_posts; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: channels; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: devices; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.devices VALUES ('\xb0020000000000000000000000000000', 1, 77, '\xb0de000000000000000000000000000000000000000000000000000000000000', 1796040000000000000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0);
INSERT INTO public.devices VALUES ('\xa1010000000000000000000000000000', 1, 4242, '\xa1de000000000000000000000000000000000000000000000000000000000000', 1795953600000000000, 7, '\x73706b', '\x73706b20736967', 8, '\x6b79626572206c72', '\x6b79626572206c7220736967', '\x7365616c656420646576696365206e616d65', 1796083200000000000, 0);


--
-- Data for Name: ec_prekeys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ec_prekeys VALUES ('\xa1010000000000000000000000000000', 1, 11, '\x6563203131');
INSERT INTO public.ec_prekeys VALUES ('\xa1010000000000000000000000000000', 1, 12, '\x6563203132');


--
-- Data for Name: kyber_prekeys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.kyber_prekeys VALUES ('\xa1010000000000000000000000000000', 1, 21, '\x6b79626572203231', '\x6b7962657220323120736967');


--
-- Data for Name: mailbox; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.mailbox OVERRIDING SYSTEM VALUE VALUES (1, '\xb0020000000000000000000000000000', 1, '\xe0000000000000000000000000000000', 1, '\xa1010000000000000000000000000000', 1, false, 1796126400000, 1796126400000000000, '\x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000');
INSERT INTO public.mailbox OVERRIDING SYSTEM VALUE VALUES (2, '\xb0020000000000000000000000000000', 1, '\xe0010000000000000000000000000000', 2, '\xa1010000000000000000000000000000', 1, false, 1796126400001, 1796126401000000000, '\x0101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101');
INSERT INTO public.mailbox OVERRIDING SYSTEM VALUE VALUES (3, '\xb0020000000000000000000000000000', 1, '\xe0020000000000000000000000000000', 3, '\x00000000000000000000000000000000', 0, true, 1796126400002, 1796126402000000000, '\x020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202');


--
-- Data for Name: mailbox_usage; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.mailbox_usage VALUES ('\xb0020000000000000000000000000000', 1, 3, 303);


--
-- Data for Name: rate_buckets; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: removed_devices; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.removed_devices VALUES ('\xa1d2000000000000000000000000000000000000000000000000000000000000', '\xa1010000000000000000000000000000', 2, 1796126400000000000);


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (1, 'init', '2026-12-08 00:58:38.213221+00');
INSERT INTO public.schema_migrations VALUES (2, 'rate_buckets', '2026-12-08 00:58:38.213221+00');
INSERT INTO public.schema_migrations VALUES (3, 'devices', '2026-12-08 00:58:38.213221+00');
INSERT INTO public.schema_migrations VALUES (4, 'channels', '2026-12-08 00:58:38.213221+00');
INSERT INTO public.schema_migrations VALUES (5, 'device_slots', '2026-12-08 00:58:38.213221+00');


--
-- Name: mailbox_seq_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.mailbox_seq_seq', 3, true);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: accounts accounts_username_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_username_key UNIQUE (username);


--
-- Name: channel_posts channel_posts_channel_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channel_posts
    ADD CONSTRAINT channel_posts_channel_id_key UNIQUE (channel, id);


--
-- Name: channel_posts channel_posts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channel_posts
    ADD CONSTRAINT channel_posts_pkey PRIMARY KEY (channel, seq);


--
-- Name: channels channels_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channels
    ADD CONSTRAINT channels_pkey PRIMARY KEY (id);


--
-- Name: devices devices_noise_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.devices
    ADD CONSTRAINT devices_noise_key_key UNIQUE (noise_key);


--
-- Name: devices devices_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.devices
    ADD CONSTRAINT devices_pkey PRIMARY KEY (account, id);


--
-- Name: ec_prekeys ec_prekeys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ec_prekeys
    ADD CONSTRAINT ec_prekeys_pkey PRIMARY KEY (account, device, id);


--
-- Name: kyber_prekeys kyber_prekeys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.kyber_prekeys
    ADD CONSTRAINT kyber_prekeys_pkey PRIMARY KEY (account, device, id);


--
-- Name: mailbox mailbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mailbox
    ADD CONSTRAINT mailbox_pkey PRIMARY KEY (account, device, seq);


--
-- Name: mailbox_usage mailbox_usage_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mailbox_usage
    ADD CONSTRAINT mailbox_usage_pkey PRIMARY KEY (account, device);


--
-- Name: rate_buckets rate_buckets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rate_buckets
    ADD CONSTRAINT rate_buckets_pkey PRIMARY KEY (key);


--
-- Name: removed_devices removed_devices_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.removed_devices
    ADD CONSTRAINT removed_devices_pkey PRIMARY KEY (noise_key);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: mailbox_by_id; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX mailbox_by_id ON public.mailbox USING btree (account, device, id);


--
-- Name: mailbox_by_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mailbox_by_time ON public.mailbox USING btree (server_time);


--
-- PostgreSQL database dump complete
--

\unrestrict 6fL9DCJhP3SD3ulNTahscxk9xQL3OBBSvFxZUrB3FROIjKoiYeYqldoEtjgYVDl


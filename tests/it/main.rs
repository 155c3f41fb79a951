//! Integration tests: one binary, real local services, fixtures built at test time.

mod action;
mod bench;
#[cfg(feature = "aws")]
mod bench_aws;
mod build;
mod cache;
mod ci;
mod config;
mod corpus;
mod docs;
mod faults;
mod first_contact;
mod first_hour;
mod guard;
mod harness;
mod hostile;
mod image;
mod layers;
mod library;
mod lock;
mod network;
mod packse;
mod plan;
mod registry;
mod remote_cache;
mod report;
mod resolve_inputs;
mod slim;
mod speed;
mod src_tree;
mod strip_corpus;
mod tags;
mod verify_handler;
mod wheel;
mod with_layer;

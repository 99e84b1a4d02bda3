//! Checking the dependency graph: what is missing, what is circular, what
//! would capture a request-scoped value in a singleton.

use std::any::TypeId;
use std::collections::HashMap;

use super::{Need, short_name};

/// One problem with the dependency graph, found when the app is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InjectProblem {
    /// Something needs a type that nothing provides.
    #[error("{who} needs {need}, which nothing provides")]
    Missing {
        /// The route or provider that needs it: `GET /users -> list_users`.
        who: String,
        /// What it needs: `Dep<Mailer>`.
        need: String,
    },
    /// Providers that need each other in a circle.
    #[error("dependency cycle: {}", path.join(" -> "))]
    Cycle {
        /// The types around the cycle, first repeated last: `Users -> Mailer -> Users`.
        path: Vec<String>,
    },
    /// A singleton that needs a request-scoped value would keep the first
    /// request's value forever.
    #[error(
        "singleton {singleton} needs request-scoped {request}; make {singleton} request-scoped too, or take {request} in the handler"
    )]
    ScopeViolation {
        /// The singleton.
        singleton: String,
        /// The request-scoped type it needs.
        request: String,
    },
    /// Two providers for one type.
    #[error("{0} is provided twice; keep one provider")]
    Duplicate(String),
    /// A factory failed while the app was being built.
    #[error("the factory of {name} failed: {error}")]
    Failed {
        /// The type it makes.
        name: String,
        /// Its error.
        error: String,
    },
    /// `Container::call` needs a request-scoped value outside a request.
    #[error("{0} is request-scoped and cannot be resolved outside a request")]
    OutsideRequest(String),
}

/// What the checks need to know of a provider.
pub(crate) struct Node<'a> {
    pub(crate) makes: &'a Need,
    pub(crate) needs: &'a [Need],
    pub(crate) request_scoped: bool,
}

/// Every problem with `providers` serving `consumers` (label, needs).
pub(crate) fn check(nodes: &[Node<'_>], consumers: &[(String, Vec<Need>)]) -> Vec<InjectProblem> {
    let mut problems = Vec::new();
    let mut index: HashMap<TypeId, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if index.insert(node.makes.key(), i).is_some() {
            problems.push(InjectProblem::Duplicate(short_name(node.makes.name)));
        }
    }
    for (who, needs) in consumers {
        for need in needs {
            if !index.contains_key(&need.key()) {
                problems.push(InjectProblem::Missing {
                    who: who.clone(),
                    need: need.describe(),
                });
            }
        }
    }
    for node in nodes {
        let who = format!("the provider of {}", short_name(node.makes.name));
        for need in node.needs {
            match index.get(&need.key()) {
                None => problems.push(InjectProblem::Missing {
                    who: who.clone(),
                    need: need.describe(),
                }),
                Some(&dep) if !node.request_scoped && nodes[dep].request_scoped => {
                    problems.push(InjectProblem::ScopeViolation {
                        singleton: short_name(node.makes.name),
                        request: short_name(need.name),
                    })
                }
                Some(_) => {}
            }
        }
    }
    problems.extend(cycles(nodes, &index));
    problems
}

/// Every elementary cycle found by depth-first search, each reported once.
fn cycles(nodes: &[Node<'_>], index: &HashMap<TypeId, usize>) -> Vec<InjectProblem> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        at: usize,
        nodes: &[Node<'_>],
        index: &HashMap<TypeId, usize>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        found: &mut Vec<Vec<usize>>,
    ) {
        marks[at] = Mark::Open;
        stack.push(at);
        for need in nodes[at].needs {
            let Some(&next) = index.get(&need.key()) else {
                continue;
            };
            match marks[next] {
                Mark::New => visit(next, nodes, index, marks, stack, found),
                Mark::Open => {
                    let start = stack.iter().position(|&n| n == next).unwrap_or(0);
                    found.push(stack[start..].to_vec());
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[at] = Mark::Done;
    }
    let mut marks = vec![Mark::New; nodes.len()];
    let mut found = Vec::new();
    for start in 0..nodes.len() {
        if marks[start] == Mark::New {
            visit(start, nodes, index, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    found
        .into_iter()
        .map(|cycle| {
            let mut path: Vec<String> = cycle
                .iter()
                .map(|&n| short_name(nodes[n].makes.name))
                .collect();
            path.push(path[0].clone());
            InjectProblem::Cycle { path }
        })
        .collect()
}

/// Providers in an order where each comes after everything it needs.
/// Only called once `check` found no cycle.
pub(crate) fn build_order(nodes: &[Node<'_>]) -> Vec<usize> {
    let index: HashMap<TypeId, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.makes.key(), i))
        .collect();
    fn visit(
        at: usize,
        nodes: &[Node<'_>],
        index: &HashMap<TypeId, usize>,
        done: &mut [bool],
        order: &mut Vec<usize>,
    ) {
        if done[at] {
            return;
        }
        done[at] = true;
        for need in nodes[at].needs {
            if let Some(&next) = index.get(&need.key()) {
                visit(next, nodes, index, done, order);
            }
        }
        order.push(at);
    }
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    for start in 0..nodes.len() {
        visit(start, nodes, &index, &mut done, &mut order);
    }
    order
}

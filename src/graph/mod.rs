//! The compiler: a validated plan becomes a DAG of typed steps in which every
//! step that changes the system has a rollback edge to the step undoing it.
